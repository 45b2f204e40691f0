//! A message as a Hi or Feishu reader sees it.
//!
//! `user_id_type` chooses which id of a user appears in `sender.id` and `mentions[].id`
//! (with `id_type` to match); an app is always its `app_id` with `id_type: "app_id"`.
//! The Hi face additionally spells `sender` in camelCase beside snake_case (its documented example's
//! example and field table disagree), uses `"IM机器人"`/`"用户"` as `sender_type`, and always
//! carries `root_id`, `parent_id`, `upper_message_id` and `mentions` (null or empty when
//! absent), as its example does. Feishu omits absent ids and empty mentions.

use crate::content::{self, ReadMentions};
use crate::face::Face;
use crate::ids;
use serde::Serialize;
use serde_json::Value;
use switchboard_core::model::{Actor, App, MentionTarget, RemovalKind};
use switchboard_core::service::{MessageView, Party};

/// Which id a user is shown by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdType {
    #[default]
    OpenId,
    UnionId,
    UserId,
}

impl IdType {
    pub fn parse(s: Option<&str>) -> Option<IdType> {
        match s {
            None | Some("open_id") => Some(IdType::OpenId),
            Some("union_id") => Some(IdType::UnionId),
            Some("user_id") => Some(IdType::UserId),
            Some(_) => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            IdType::OpenId => "open_id",
            IdType::UnionId => "union_id",
            IdType::UserId => "user_id",
        }
    }
}

/// Hi's sender_type values. The documented example shows "IM机器人" for a bot; "用户" (user) is our choice
/// for people, in the same language.
pub const HI_SENDER_APP: &str = "IM机器人";
pub const HI_SENDER_USER: &str = "用户";

/// Who reads, through which face, with which ids.
pub struct Reader<'a> {
    pub app: &'a App,
    pub face: Face,
    pub id_type: IdType,
}

impl Reader<'_> {
    /// A user's id as this reader names it.
    pub fn user_id(
        &self,
        id: switchboard_core::ids::UserId,
        party: Option<&Party>,
    ) -> (String, &'static str) {
        let s = match self.id_type {
            IdType::OpenId => ids::open_id(id, self.app.id),
            IdType::UnionId => ids::union_id(id),
            IdType::UserId => match party {
                Some(Party::User(u)) => u.user_id.clone(),
                _ => String::new(),
            },
        };
        (s, self.id_type.as_str())
    }

    pub fn actor_id(&self, actor: Actor, party: Option<&Party>) -> (String, &'static str) {
        match actor {
            Actor::User(u) => self.user_id(u, party),
            Actor::App(_) => match party {
                Some(Party::App(a)) => (a.app_id.clone(), "app_id"),
                _ => (String::new(), "app_id"),
            },
        }
    }

    /// A mention's id; @all is `"-1"` with `id_type: "open_id"`, as in Hi's documented example.
    pub fn mention_id(
        &self,
        target: &MentionTarget,
        party: Option<&Party>,
    ) -> (String, &'static str) {
        match target {
            MentionTarget::All => ("-1".into(), "open_id"),
            MentionTarget::User(u) => self.user_id(*u, party),
            MentionTarget::App(a) => self.actor_id(Actor::App(*a), party),
        }
    }
}

/// Whether `v` reads as recalled to this reader. A one-way recall (Yunxin) hides the message
/// from everyone but its sender.
pub fn reads_as_recalled(r: &Reader, v: &MessageView) -> bool {
    match v.message.removal.as_ref().map(|x| x.kind) {
        None => false,
        Some(RemovalKind::Recalled | RemovalKind::Deleted) => true,
        Some(RemovalKind::RecalledOneWay) => v.message.sender != Actor::App(r.app.id),
    }
}

/// The message object shared by get, send, reply, edit and forward responses, as a tree
/// (for responses that wrap it further).
pub fn message(r: &Reader, v: &MessageView) -> Value {
    serde_json::to_value(message_out(r, v)).unwrap_or(Value::Null)
}

/// An id that the Hi face shows as `null` when absent and Feishu leaves out.
#[derive(Debug)]
pub enum MaybeId {
    Id(String),
    Null,
    Absent,
}

impl MaybeId {
    fn new(hi: bool, id: Option<String>) -> MaybeId {
        match id {
            Some(s) => MaybeId::Id(s),
            None if hi => MaybeId::Null,
            None => MaybeId::Absent,
        }
    }
    fn is_absent(&self) -> bool {
        matches!(self, MaybeId::Absent)
    }
}

impl Serialize for MaybeId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            MaybeId::Id(id) => s.serialize_str(id),
            _ => s.serialize_none(),
        }
    }
}

/// The message object, typed: serialised straight into the response. Fields are in the
/// byte order of their names, as a `serde_json::Map` would write them.
#[derive(Debug, Serialize)]
pub struct MessageOut {
    body: Body,
    chat_id: String,
    create_time: String,
    deleted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    mentions: Option<Vec<MentionOut>>,
    message_id: String,
    msg_type: &'static str,
    #[serde(skip_serializing_if = "MaybeId::is_absent")]
    parent_id: MaybeId,
    #[serde(skip_serializing_if = "MaybeId::is_absent")]
    root_id: MaybeId,
    sender: SenderOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    thread_id: Option<String>,
    update_time: String,
    updated: bool,
    #[serde(skip_serializing_if = "MaybeId::is_absent")]
    upper_message_id: MaybeId,
}

#[derive(Debug, Serialize)]
struct Body {
    content: String,
}

/// `sender`; the Hi face spells each field in camelCase too.
#[derive(Debug, Serialize)]
struct SenderOut {
    id: String,
    #[serde(rename = "idType", skip_serializing_if = "Option::is_none")]
    id_type_hi: Option<&'static str>,
    id_type: &'static str,
    #[serde(rename = "senderType", skip_serializing_if = "Option::is_none")]
    sender_type_hi: Option<&'static str>,
    sender_type: &'static str,
    #[serde(rename = "tenantKey", skip_serializing_if = "Option::is_none")]
    tenant_key_hi: Option<String>,
    tenant_key: String,
}

#[derive(Debug, Serialize)]
struct MentionOut {
    id: String,
    id_type: &'static str,
    key: String,
    name: String,
    tenant_key: String,
}

/// The message object shared by get, send, reply, edit and forward responses.
pub fn message_out(r: &Reader, v: &MessageView) -> MessageOut {
    let m = &v.message;
    let tenant_key = ids::tenant_key(m.tenant);
    let hi = r.face == Face::Hi;
    let recalled = reads_as_recalled(r, v);

    let (sid, sid_type) = r.actor_id(m.sender, v.sender.as_ref());
    let kind = match (m.sender, &v.sender, hi) {
        (_, None, _) => "unknown",
        (Actor::App(_), _, true) => HI_SENDER_APP,
        (Actor::User(_), _, true) => HI_SENDER_USER,
        (Actor::App(_), _, false) => "app",
        (Actor::User(_), _, false) => "user",
    };
    let sender = SenderOut {
        id: sid,
        id_type_hi: hi.then_some(sid_type),
        id_type: sid_type,
        sender_type_hi: hi.then_some(kind),
        sender_type: kind,
        tenant_key_hi: hi.then(|| tenant_key.clone()),
        tenant_key: tenant_key.clone(),
    };

    let rm = ReadMentions::of(v);
    let content = if recalled {
        content::recalled()
    } else {
        content::outgoing(r, v, &rm)
    };
    let mentions: Vec<MentionOut> = m
        .mentions
        .iter()
        .zip(&v.mention_parties)
        .zip(&rm.keys)
        // Feishu shows @all only in the text; Hi lists it as id "-1".
        .filter(|((mn, _), _)| hi || mn.target != MentionTarget::All)
        .map(|((mn, p), (key, name))| {
            let (id, id_type) = r.mention_id(&mn.target, p.as_ref());
            MentionOut {
                id,
                id_type,
                key: key.clone(),
                name: name.clone(),
                tenant_key: tenant_key.clone(),
            }
        })
        .collect();
    MessageOut {
        body: Body { content },
        chat_id: ids::chat_id(m.chat),
        create_time: m.created_at.to_string(),
        deleted: recalled,
        mentions: (hi || !mentions.is_empty()).then_some(mentions),
        message_id: ids::message_id(m.id),
        msg_type: content::msg_type(r.face, m.kind),
        parent_id: MaybeId::new(hi, m.parent.map(ids::message_id)),
        root_id: MaybeId::new(hi, m.root.map(ids::message_id)),
        sender,
        thread_id: m.thread.map(ids::thread_id),
        update_time: m.updated_at.to_string(),
        updated: m.edit.is_some(),
        upper_message_id: MaybeId::new(hi, m.upper.map(ids::message_id)),
    }
}
