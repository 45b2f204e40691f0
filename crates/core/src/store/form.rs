//! The stored form of a message: what both stores keep in a message row's `doc`.
//!
//! One version byte, then the message as a protobuf record (fields by number, so a later
//! version can add fields that this one skips). The canonical payload and the as-received
//! original are kept as their JSON text ([`Json`]): reading a message copies strings and
//! builds no tree, and a dialect parses the payload straight into the type it renders.
//!
//! Documents written before this form are JSON objects, whose first byte is `{`: both
//! read side by side, and an old row takes the new form when it is next rewritten (an
//! edit, a recall) or when `switchboard upgrade-documents` converts it.

use crate::ids::{AppId, ChatId, MessageId, TenantId, UserId};
use crate::json::Json;
use crate::model::*;
use prost::Message as _;

/// The first byte of the current stored form.
pub const VERSION: u8 = 1;

/// `m` in the stored form.
pub fn encode_message(m: &Message) -> Vec<u8> {
    let doc = Doc::of(m);
    let mut out = Vec::with_capacity(1 + doc.encoded_len());
    out.push(VERSION);
    doc.encode(&mut out).expect("a Vec grows as needed");
    out
}

/// `c` alone in the stored form's encoding, without the version byte: for a bulk write
/// that encodes contents before its writer thread, which then calls
/// [`encode_message_around`]. (A protobuf record may hold its fields in any order, so the
/// rest of the message and its content can be encoded apart and concatenated.)
pub fn encode_content(c: &Content) -> Vec<u8> {
    let mut doc = Doc::default();
    doc.set_content(c);
    doc.encode_to_vec()
}

/// The stored form of `m` with its content taken from `content` ([`encode_content`]);
/// `m.content` is not read. Byte for byte what [`encode_message`] writes for the same
/// message, save the order of its fields.
pub fn encode_message_around(m: &Message, content: &[u8]) -> Vec<u8> {
    let doc = Doc::of_rest(m);
    let mut out = Vec::with_capacity(1 + doc.encoded_len() + content.len());
    out.push(VERSION);
    doc.encode(&mut out).expect("a Vec grows as needed");
    out.extend_from_slice(content);
    out
}

/// Reads a stored message in either form.
pub fn decode_message(bytes: &[u8]) -> Result<Message, String> {
    match bytes.first() {
        Some(&VERSION) => Doc::decode(&bytes[1..])
            .map_err(|e| e.to_string())
            .and_then(Doc::into_message),
        Some(b'{') => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
        Some(v) => Err(format!("unknown stored form version {v}")),
        None => Err("empty document".into()),
    }
    .map_err(|e| format!("corrupt message document: {e}"))
}

#[derive(Clone, PartialEq, prost::Message)]
struct Doc {
    #[prost(int64, tag = "1")]
    id: i64,
    #[prost(int64, tag = "2")]
    tenant: i64,
    #[prost(int64, tag = "3")]
    chat: i64,
    #[prost(message, optional, tag = "4")]
    sender: Option<ActorDoc>,
    /// The type's position in [`MessageType::ALL`], which only ever grows at its end.
    #[prost(uint32, tag = "5")]
    kind: u32,
    #[prost(string, tag = "6")]
    text: String,
    /// Empty for no payload (`null`).
    #[prost(string, tag = "7")]
    data: String,
    #[prost(message, optional, tag = "8")]
    original: Option<OriginalDoc>,
    #[prost(message, repeated, tag = "9")]
    mentions: Vec<MentionDoc>,
    #[prost(int64, tag = "10")]
    created_at: i64,
    #[prost(int64, tag = "11")]
    updated_at: i64,
    #[prost(message, optional, tag = "12")]
    edit: Option<EditDoc>,
    #[prost(message, optional, tag = "13")]
    removal: Option<RemovalDoc>,
    #[prost(int64, optional, tag = "14")]
    parent: Option<i64>,
    #[prost(int64, optional, tag = "15")]
    root: Option<i64>,
    #[prost(int64, optional, tag = "16")]
    thread: Option<i64>,
    #[prost(int64, optional, tag = "17")]
    upper: Option<i64>,
    #[prost(int64, optional, tag = "18")]
    copied_from: Option<i64>,
    #[prost(string, optional, tag = "19")]
    client_msg_id: Option<String>,
    #[prost(int64, optional, tag = "20")]
    sub_type: Option<i64>,
    #[prost(string, optional, tag = "21")]
    extension: Option<String>,
    #[prost(int64, optional, tag = "22")]
    client_type: Option<i64>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ActorDoc {
    /// 0 a user, 1 an app.
    #[prost(uint32, tag = "1")]
    kind: u32,
    #[prost(int64, tag = "2")]
    id: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct OriginalDoc {
    #[prost(string, tag = "1")]
    format: String,
    #[prost(string, tag = "2")]
    value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct MentionDoc {
    #[prost(string, tag = "1")]
    key: String,
    /// 0 everyone, 1 a user, 2 an app.
    #[prost(uint32, tag = "2")]
    target: u32,
    #[prost(int64, tag = "3")]
    id: i64,
    #[prost(string, tag = "4")]
    name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct EditDoc {
    #[prost(message, optional, tag = "1")]
    by: Option<ActorDoc>,
    #[prost(int64, tag = "2")]
    at: i64,
    #[prost(uint32, tag = "3")]
    count: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RemovalDoc {
    /// 0 recalled, 1 recalled one way, 2 deleted.
    #[prost(uint32, tag = "1")]
    kind: u32,
    #[prost(message, optional, tag = "2")]
    by: Option<ActorDoc>,
    #[prost(int64, tag = "3")]
    at: i64,
}

const REMOVALS: [RemovalKind; 3] = [
    RemovalKind::Recalled,
    RemovalKind::RecalledOneWay,
    RemovalKind::Deleted,
];

impl ActorDoc {
    fn of(a: Actor) -> Option<ActorDoc> {
        Some(match a {
            Actor::User(u) => ActorDoc { kind: 0, id: u.0 },
            Actor::App(a) => ActorDoc { kind: 1, id: a.0 },
        })
    }
    fn actor(d: Option<ActorDoc>) -> Result<Actor, String> {
        match d {
            Some(ActorDoc { kind: 0, id }) => Ok(Actor::User(UserId(id))),
            Some(ActorDoc { kind: 1, id }) => Ok(Actor::App(AppId(id))),
            _ => Err("bad actor".into()),
        }
    }
}

fn json_text(j: &Json) -> String {
    if j.is_null() {
        String::new()
    } else {
        j.as_str().to_string()
    }
}

fn kind_code(kind: MessageType) -> u32 {
    MessageType::ALL
        .iter()
        .position(|k| *k == kind)
        .expect("every type is in ALL") as u32
}

impl Doc {
    fn of(m: &Message) -> Doc {
        let mut doc = Doc::of_rest(m);
        doc.set_content(&m.content);
        doc
    }

    fn set_content(&mut self, c: &Content) {
        self.text = c.text.clone();
        self.data = json_text(&c.data);
        self.original = c.original.as_ref().map(|o| OriginalDoc {
            format: o.format.clone(),
            value: o.value.as_str().to_string(),
        });
    }

    /// Everything but the content.
    fn of_rest(m: &Message) -> Doc {
        Doc {
            id: m.id.0,
            tenant: m.tenant.0,
            chat: m.chat.0,
            sender: ActorDoc::of(m.sender),
            kind: kind_code(m.kind),
            text: String::new(),
            data: String::new(),
            original: None,
            mentions: m
                .mentions
                .iter()
                .map(|x| {
                    let (target, id) = match x.target {
                        MentionTarget::All => (0, 0),
                        MentionTarget::User(u) => (1, u.0),
                        MentionTarget::App(a) => (2, a.0),
                    };
                    MentionDoc {
                        key: x.key.clone(),
                        target,
                        id,
                        name: x.name.clone(),
                    }
                })
                .collect(),
            created_at: m.created_at,
            updated_at: m.updated_at,
            edit: m.edit.as_ref().map(|e| EditDoc {
                by: ActorDoc::of(e.by),
                at: e.at,
                count: e.count,
            }),
            removal: m.removal.as_ref().map(|r| RemovalDoc {
                kind: REMOVALS.iter().position(|k| *k == r.kind).unwrap_or(0) as u32,
                by: ActorDoc::of(r.by),
                at: r.at,
            }),
            parent: m.parent.map(|x| x.0),
            root: m.root.map(|x| x.0),
            thread: m.thread.map(|x| x.0),
            upper: m.upper.map(|x| x.0),
            copied_from: m.copied_from.map(|x| x.0),
            client_msg_id: m.client_msg_id.clone(),
            sub_type: m.extra.sub_type,
            extension: m.extra.extension.clone(),
            client_type: m.extra.client_type,
        }
    }

    fn into_message(self) -> Result<Message, String> {
        let kind = *MessageType::ALL
            .get(self.kind as usize)
            .ok_or_else(|| format!("unknown message type {}", self.kind))?;
        let data = if self.data.is_empty() {
            Json::null()
        } else {
            Json::from_trusted(self.data)
        };
        let mentions = self
            .mentions
            .into_iter()
            .map(|x| {
                let target = match x.target {
                    0 => MentionTarget::All,
                    1 => MentionTarget::User(UserId(x.id)),
                    2 => MentionTarget::App(AppId(x.id)),
                    t => return Err(format!("unknown mention target {t}")),
                };
                Ok(Mention {
                    key: x.key,
                    target,
                    name: x.name,
                })
            })
            .collect::<Result<_, String>>()?;
        let edit = match self.edit {
            Some(e) => Some(EditInfo {
                by: ActorDoc::actor(e.by)?,
                at: e.at,
                count: e.count,
            }),
            None => None,
        };
        let removal = match self.removal {
            Some(r) => Some(Removal {
                kind: *REMOVALS
                    .get(r.kind as usize)
                    .ok_or_else(|| format!("unknown removal {}", r.kind))?,
                by: ActorDoc::actor(r.by)?,
                at: r.at,
            }),
            None => None,
        };
        Ok(Message {
            id: MessageId(self.id),
            tenant: TenantId(self.tenant),
            chat: ChatId(self.chat),
            sender: ActorDoc::actor(self.sender)?,
            kind,
            content: Content {
                text: self.text,
                data,
                original: self.original.map(|o| OriginalContent {
                    format: o.format,
                    value: Json::from_trusted(o.value),
                }),
            },
            mentions,
            created_at: self.created_at,
            updated_at: self.updated_at,
            edit,
            removal,
            parent: self.parent.map(MessageId),
            root: self.root.map(MessageId),
            thread: self.thread.map(MessageId),
            upper: self.upper.map(MessageId),
            copied_from: self.copied_from.map(MessageId),
            client_msg_id: self.client_msg_id,
            extra: MessageExtra {
                sub_type: self.sub_type,
                extension: self.extension,
                client_type: self.client_type,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn full() -> Message {
        Message {
            id: MessageId(4_294_967_297),
            tenant: TenantId(3),
            chat: ChatId(1),
            sender: Actor::App(AppId(7)),
            kind: MessageType::RichText,
            content: Content {
                text: "T\na@Bob".into(),
                data: json!({"title": "T", "paragraphs": [[{"tag": "text", "text": "a"}]]}).into(),
                original: Some(OriginalContent {
                    format: "lark".into(),
                    value: json!({"zh_cn": {"content": [[]]}}).into(),
                }),
            },
            mentions: vec![
                Mention {
                    key: "1".into(),
                    target: MentionTarget::User(UserId(9)),
                    name: "Bob".into(),
                },
                Mention {
                    key: "all".into(),
                    target: MentionTarget::All,
                    name: String::new(),
                },
            ],
            created_at: 10,
            updated_at: 12,
            edit: Some(EditInfo {
                by: Actor::User(UserId(9)),
                at: 11,
                count: 2,
            }),
            removal: Some(Removal {
                kind: RemovalKind::RecalledOneWay,
                by: Actor::App(AppId(7)),
                at: 12,
            }),
            parent: Some(MessageId(4_294_967_296)),
            root: Some(MessageId(4_294_967_296)),
            thread: None,
            upper: Some(MessageId(8_589_934_593)),
            copied_from: Some(MessageId(5)),
            client_msg_id: Some("c-1".into()),
            extra: MessageExtra {
                sub_type: Some(0),
                extension: Some(String::new()),
                client_type: None,
            },
        }
    }

    #[test]
    fn every_field_and_type_survives_the_stored_form() {
        let m = full();
        let bytes = encode_message(&m);
        assert_eq!(bytes[0], VERSION);
        assert_eq!(decode_message(&bytes).unwrap(), m);
        for kind in MessageType::ALL {
            let mut bare = m.clone();
            bare.kind = kind;
            bare.content = Content::default();
            bare.mentions.clear();
            bare.edit = None;
            bare.removal = None;
            bare.extra = MessageExtra::default();
            assert_eq!(decode_message(&encode_message(&bare)).unwrap(), bare);
        }
    }

    #[test]
    fn a_content_encoded_apart_makes_the_same_message() {
        let m = full();
        let around = encode_message_around(&m, &encode_content(&m.content));
        assert_eq!(decode_message(&around).unwrap(), m);
        assert_eq!(around.len(), encode_message(&m).len());
        let mut empty = m.clone();
        empty.content = Content::default();
        assert_eq!(
            decode_message(&encode_message_around(&m, &[])).unwrap(),
            empty
        );
    }

    #[test]
    fn documents_of_the_json_form_read_as_they_did() {
        let m = full();
        let legacy = serde_json::to_vec(&m).unwrap();
        assert_eq!(legacy[0], b'{');
        assert_eq!(decode_message(&legacy).unwrap(), m);
        assert_eq!(encode_message(&m)[0], VERSION);
    }

    #[test]
    fn damaged_documents_are_errors_not_panics() {
        let bytes = encode_message(&full());
        for cut in 0..bytes.len() {
            let _ = decode_message(&bytes[..cut]);
        }
        assert!(decode_message(&[]).is_err());
        assert!(decode_message(&[9, 1, 2]).is_err());
        let mut bad = bytes.clone();
        bad[2] = 0xff;
        let _ = decode_message(&bad);
    }
}
