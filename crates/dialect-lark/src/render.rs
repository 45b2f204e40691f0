//! A message as a Hi or Feishu reader sees it.
//!
//! `user_id_type` chooses which id of a user appears in `sender.id` and `mentions[].id`
//! (with `id_type` to match); an app is always its `app_id` with `id_type: "app_id"`.
//! The Hi face additionally spells `sender` in camelCase beside snake_case (its seed's
//! example and field table disagree), uses `"IM机器人"`/`"用户"` as `sender_type`, and always
//! carries `root_id`, `parent_id`, `upper_message_id` and `mentions` (null or empty when
//! absent), as its example does. Feishu omits absent ids and empty mentions.

use crate::content::{self, ReadMentions};
use crate::face::Face;
use crate::ids;
use serde_json::{json, Map, Value};
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

/// Hi's sender_type values. The seed shows "IM机器人" for a bot; "用户" (user) is our choice
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

    /// A mention's id; @all is `"-1"` with `id_type: "open_id"`, as in the Hi seed.
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

/// The message object shared by get, send, reply, edit and forward responses.
pub fn message(r: &Reader, v: &MessageView) -> Value {
    let m = &v.message;
    let tenant_key = ids::tenant_key(m.tenant);
    let hi = r.face == Face::Hi;
    let mut o = Map::new();
    let opt = |o: &mut Map<String, Value>, k: &str, id: Option<String>| match id {
        Some(s) => {
            o.insert(k.into(), json!(s));
        }
        None if hi => {
            o.insert(k.into(), Value::Null);
        }
        None => {}
    };
    o.insert("message_id".into(), json!(ids::message_id(m.id)));
    opt(&mut o, "root_id", m.root.map(ids::message_id));
    opt(&mut o, "parent_id", m.parent.map(ids::message_id));
    if let Some(t) = m.thread {
        o.insert("thread_id".into(), json!(ids::thread_id(t)));
    }
    o.insert("msg_type".into(), json!(content::msg_type(r.face, m.kind)));
    o.insert("create_time".into(), json!(m.created_at.to_string()));
    o.insert("update_time".into(), json!(m.updated_at.to_string()));
    let recalled = reads_as_recalled(r, v);
    o.insert("deleted".into(), json!(recalled));
    o.insert("updated".into(), json!(m.edit.is_some()));
    o.insert("chat_id".into(), json!(ids::chat_id(m.chat)));

    let (sid, sid_type) = r.actor_id(m.sender, v.sender.as_ref());
    let kind = match (m.sender, &v.sender, hi) {
        (_, None, _) => "unknown",
        (Actor::App(_), _, true) => HI_SENDER_APP,
        (Actor::User(_), _, true) => HI_SENDER_USER,
        (Actor::App(_), _, false) => "app",
        (Actor::User(_), _, false) => "user",
    };
    let sender = if hi {
        json!({
            "id": sid, "id_type": sid_type, "idType": sid_type,
            "sender_type": kind, "senderType": kind,
            "tenant_key": tenant_key, "tenantKey": tenant_key,
        })
    } else {
        json!({ "id": sid, "id_type": sid_type, "sender_type": kind, "tenant_key": tenant_key })
    };
    o.insert("sender".into(), sender);

    let rm = ReadMentions::of(v);
    let body = if recalled {
        content::recalled()
    } else {
        content::outgoing(r, v, &rm)
    };
    o.insert("body".into(), json!({ "content": body }));

    let mentions: Vec<Value> = m
        .mentions
        .iter()
        .zip(&v.mention_parties)
        .zip(&rm.keys)
        // Feishu shows @all only in the text; Hi lists it as id "-1".
        .filter(|((mn, _), _)| hi || mn.target != MentionTarget::All)
        .map(|((mn, p), (key, name))| {
            let (id, id_type) = r.mention_id(&mn.target, p.as_ref());
            json!({ "key": key, "id": id, "id_type": id_type, "name": name, "tenant_key": tenant_key })
        })
        .collect();
    if hi || !mentions.is_empty() {
        o.insert("mentions".into(), Value::Array(mentions));
    }
    opt(&mut o, "upper_message_id", m.upper.map(ids::message_id));
    Value::Object(o)
}
