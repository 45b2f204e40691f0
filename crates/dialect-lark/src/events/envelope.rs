//! The plaintext v2.0 envelope, built from a delivery and what was looked up for it.
//!
//! Pure: every read (the receiving app, the chat, the parties the change names, the
//! remover's role) is done beforehand by [`super::LarkEvents`] and handed in as a
//! [`Seen`], so this file is tested without a store.
//!
//! Ids are rendered as the receiving app sees them, with the codecs the get-message API
//! uses ([`crate::ids`]): `om_`/`oc_`/`omt_` ids, `open_id` per (user, app), `union_id` per
//! user, the tenant-wide `user_id` only when the app holds the field scope the get API
//! requires for `user_id_type=user_id`. An app is named by its public `app_id` (as
//! everywhere in this dialect), in both `open_id` and `union_id`.
//!
//! JSON is compact (`serde_json::to_vec`): no whitespace, `/` and non-ASCII unescaped.

use crate::content::{self, ReadMentions};
use crate::face::Face;
use crate::ids;
use crate::render::{IdType, Reader};
use serde::Serialize;
use std::collections::HashMap;
use switchboard_core::events::route::EventKind;
use switchboard_core::events::{ChangeBody, Delivery};
use switchboard_core::model::{Actor, App, Chat, ChatKind, MentionTarget, Message, Millis, Role};
use switchboard_core::service::{MessageView, Party};

/// What a delivery's rendering needs besides the delivery: looked up for the receiving app.
pub struct Seen<'a> {
    pub face: Face,
    /// The receiving app (its public `app_id` goes in the header, its id makes open_ids).
    pub app: &'a App,
    /// Whether the app may see users' tenant-wide `user_id` (the get API's field scope).
    pub user_id_visible: bool,
    /// The subscription's verification token (`""` when none).
    pub token: &'a str,
    /// The change's chat, when it still exists.
    pub chat: Option<&'a Chat>,
    /// Every party the change names (sender, mentions, remover, operator, members);
    /// `None` (or absent) for one that no longer exists.
    pub parties: &'a HashMap<Actor, Option<Party>>,
    /// For a recall by someone other than the sender: the remover's role in the chat.
    pub remover_role: Option<Role>,
}

/// `sender_type` of a user's message, on both faces. (Hi's get-message API says `用户`,
/// but its event page is Feishu's copy: the event keeps Feishu's values.)
pub const SENDER_USER: &str = "user";
/// `sender_type` of an app's message, as Feishu's get-message API renders it.
pub const SENDER_APP: &str = "app";

/// `{union_id, user_id, open_id}`; absent fields are left out.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct IdsOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub union_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_id: Option<String>,
}

#[derive(Serialize)]
struct Envelope<'a, E> {
    schema: &'static str,
    header: Header<'a>,
    event: E,
}

#[derive(Serialize)]
struct Header<'a> {
    event_id: &'a str,
    event_type: &'a str,
    create_time: String,
    token: &'a str,
    app_id: &'a str,
    tenant_key: String,
}

#[derive(Serialize)]
struct MessageEvent {
    sender: SenderOut,
    message: MessageOut,
}

#[derive(Serialize)]
struct SenderOut {
    sender_id: IdsOut,
    sender_type: &'static str,
    tenant_key: String,
}

#[derive(Serialize)]
struct MessageOut {
    message_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    root_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_id: Option<String>,
    create_time: String,
    update_time: String,
    chat_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    thread_id: Option<String>,
    chat_type: &'static str,
    message_type: &'static str,
    content: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    mentions: Vec<MentionOut>,
}

#[derive(Serialize)]
struct MentionOut {
    key: String,
    id: IdsOut,
    name: String,
    tenant_key: String,
}

#[derive(Serialize)]
struct RecalledEvent {
    message_id: String,
    chat_id: String,
    recall_time: String,
    recall_type: &'static str,
}

/// `i18n_names`: we keep no translated chat names, so `{}`.
#[derive(Serialize)]
struct I18nNames {}

#[derive(Serialize)]
struct ChatEvent {
    chat_id: String,
    operator_id: IdsOut,
    external: bool,
    operator_tenant_key: String,
    name: String,
    i18n_names: I18nNames,
    #[serde(skip_serializing_if = "Option::is_none")]
    users: Option<Vec<UserOut>>,
}

#[derive(Serialize)]
struct UserOut {
    name: String,
    tenant_key: String,
    user_id: IdsOut,
}

/// `chat_type`: Feishu's `p2p` or `group` (a super group is a group).
pub fn chat_type(kind: ChatKind) -> &'static str {
    match kind {
        ChatKind::P2p => "p2p",
        ChatKind::Group | ChatKind::SuperGroup => "group",
    }
}

/// `recall_type`: the sender recalled it, or the chat's owner or a manager did; anyone
/// else (the tenant's operator, a since-removed member) is the enterprise's manager.
pub fn recall_type(
    message: &Message,
    by: Actor,
    chat: Option<&Chat>,
    role: Option<Role>,
) -> &'static str {
    if by == message.sender {
        "message_owner"
    } else if role == Some(Role::Owner) || chat.is_some_and(|c| c.owner == by) {
        "group_owner"
    } else if role == Some(Role::Admin) {
        "group_manager"
    } else {
        "enterprise_manager"
    }
}

/// The header's `create_time`: when the change happened, as far as its body says (a
/// message's creation or removal), else when it was routed. The same on every attempt.
pub fn change_time(d: &Delivery) -> Millis {
    match &d.body {
        ChangeBody::MessageCreated { message } => message.created_at,
        ChangeBody::MessageEdited { message } => {
            message.edit.as_ref().map_or(message.updated_at, |e| e.at)
        }
        ChangeBody::MessageRemoved { message } => message
            .removal
            .as_ref()
            .map_or(message.updated_at, |r| r.at),
        _ => d.created_at,
    }
}

impl Seen<'_> {
    fn party(&self, actor: Actor) -> Option<&Party> {
        self.parties.get(&actor).and_then(Option::as_ref)
    }

    /// A party's ids as the receiving app sees them; `{}` for nobody (the operator).
    pub fn ids(&self, actor: Option<Actor>) -> IdsOut {
        match actor {
            None => IdsOut::default(),
            Some(Actor::User(u)) => IdsOut {
                union_id: Some(ids::union_id(u)),
                user_id: match self.party(Actor::User(u)) {
                    Some(Party::User(user)) if self.user_id_visible => Some(user.user_id.clone()),
                    _ => None,
                },
                open_id: Some(ids::open_id(u, self.app.id)),
            },
            Some(a @ Actor::App(_)) => match self.party(a) {
                Some(Party::App(card)) => IdsOut {
                    union_id: Some(card.app_id.clone()),
                    user_id: None,
                    open_id: Some(card.app_id.clone()),
                },
                _ => IdsOut::default(),
            },
        }
    }

    fn name(&self, actor: Actor) -> String {
        match self.party(actor) {
            Some(Party::User(u)) => u.name.clone(),
            Some(Party::App(a)) => a.name.clone(),
            None => String::new(),
        }
    }

    fn reader(&self) -> Reader<'_> {
        Reader {
            app: self.app,
            face: self.face,
            // Content names users by open_id (Hi's `atIdList`), as the get API does by default.
            id_type: IdType::OpenId,
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

/// The plaintext envelope of `d` for `kind` (the kind its `event_type` names).
pub fn build(seen: &Seen, kind: EventKind, d: &Delivery) -> Result<Vec<u8>, String> {
    let tenant_key = ids::tenant_key(d.tenant);
    let header = Header {
        event_id: &d.event_id,
        event_type: &d.event_type,
        create_time: change_time(d).to_string(),
        token: seen.token,
        app_id: &seen.app.app_id,
        tenant_key: tenant_key.clone(),
    };
    let mismatch = || {
        format!(
            "a {} change cannot be rendered as {}",
            d.body.kind(),
            d.event_type
        )
    };
    match (kind, &d.body) {
        (EventKind::MessageReceived, ChangeBody::MessageCreated { message })
        | (EventKind::MessageEdited, ChangeBody::MessageEdited { message }) => {
            finish(header, message_event(seen, message, &tenant_key))
        }
        (EventKind::MessageRecalled, ChangeBody::MessageRemoved { message }) => {
            let removal = message
                .removal
                .as_ref()
                .ok_or_else(|| "a removed message without its removal".to_string())?;
            let ev = RecalledEvent {
                message_id: ids::message_id(message.id),
                chat_id: ids::chat_id(message.chat),
                recall_time: removal.at.to_string(),
                recall_type: recall_type(message, removal.by, seen.chat, seen.remover_role),
            };
            finish(header, ev)
        }
        (EventKind::BotAdded | EventKind::UsersAdded, ChangeBody::MembersAdded { by, members })
        | (
            EventKind::BotRemoved | EventKind::UsersRemoved,
            ChangeBody::MembersRemoved { by, members },
        ) => {
            let users =
                matches!(kind, EventKind::UsersAdded | EventKind::UsersRemoved).then(|| {
                    members
                        .iter()
                        .filter(|a| matches!(a, Actor::User(_)))
                        .map(|a| UserOut {
                            name: seen.name(*a),
                            tenant_key: tenant_key.clone(),
                            user_id: seen.ids(Some(*a)),
                        })
                        .collect()
                });
            finish(header, chat_event(seen, d, *by, users, &tenant_key))
        }
        (EventKind::ChatDisbanded, ChangeBody::ChatDissolved { by }) => {
            finish(header, chat_event(seen, d, *by, None, &tenant_key))
        }
        _ => Err(mismatch()),
    }
}

fn finish<E: Serialize>(header: Header, event: E) -> Result<Vec<u8>, String> {
    serde_json::to_vec(&Envelope {
        schema: "2.0",
        header,
        event,
    })
    .map_err(|e| format!("unserialisable event: {e}"))
}

fn chat_event(
    seen: &Seen,
    d: &Delivery,
    by: Option<Actor>,
    users: Option<Vec<UserOut>>,
    tenant_key: &str,
) -> ChatEvent {
    ChatEvent {
        chat_id: ids::chat_id(d.chat),
        operator_id: seen.ids(by),
        external: false,
        operator_tenant_key: tenant_key.to_string(),
        name: seen.chat.map(|c| c.name.clone()).unwrap_or_default(),
        i18n_names: I18nNames {},
        users,
    }
}

/// `sender` and `message`, with `content` and `mentions` exactly as the get-message API
/// renders them for this app and face (`content::outgoing`, `ReadMentions`).
fn message_event(seen: &Seen, m: &Message, tenant_key: &str) -> MessageEvent {
    let v = seen.view(m);
    let r = seen.reader();
    let hi = seen.face == Face::Hi;
    let rm = ReadMentions::of(&v);
    let content = content::outgoing(&r, &v, &rm);
    let mentions = m
        .mentions
        .iter()
        .zip(&rm.keys)
        // Feishu shows @all only in the text; Hi lists it, as id "-1" (as its get does).
        .filter(|(mn, _)| hi || mn.target != MentionTarget::All)
        .map(|(mn, (key, name))| MentionOut {
            key: key.clone(),
            id: match mn.target {
                MentionTarget::All => IdsOut {
                    open_id: Some("-1".into()),
                    ..IdsOut::default()
                },
                MentionTarget::User(u) => seen.ids(Some(Actor::User(u))),
                MentionTarget::App(a) => seen.ids(Some(Actor::App(a))),
            },
            name: name.clone(),
            tenant_key: tenant_key.to_string(),
        })
        .collect();
    MessageEvent {
        sender: SenderOut {
            sender_id: seen.ids(Some(m.sender)),
            sender_type: match m.sender {
                Actor::User(_) => SENDER_USER,
                Actor::App(_) => SENDER_APP,
            },
            tenant_key: tenant_key.to_string(),
        },
        message: MessageOut {
            message_id: ids::message_id(m.id),
            root_id: m.root.map(ids::message_id),
            parent_id: m.parent.map(ids::message_id),
            create_time: m.created_at.to_string(),
            update_time: m.updated_at.to_string(),
            chat_id: ids::chat_id(m.chat),
            thread_id: m.thread.map(ids::thread_id),
            chat_type: chat_type(v.chat.kind),
            message_type: content::msg_type(seen.face, m.kind),
            content,
            mentions,
        },
    }
}
