//! The outbox's records: changes, subscriptions, deliveries and their attempts.

use crate::ids::{AppId, ChatId, MessageId, TenantId};
use crate::model::{Actor, MentionTarget, Message, Millis};
use crate::store::form;
use serde::{Deserialize, Serialize};

/// What happened, as the store recorded it in the transaction that did it. The message
/// variants hold the message as written then, so every attempt renders the same event
/// whatever happens to the message afterwards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChangeBody {
    MessageCreated {
        message: Message,
    },
    MessageEdited {
        message: Message,
    },
    /// The message after its removal (`removal` is set).
    MessageRemoved {
        message: Message,
    },
    /// Members joined (a new chat's members other than its creator count as joined).
    MembersAdded {
        by: Option<Actor>,
        members: Vec<Actor>,
    },
    MembersRemoved {
        by: Option<Actor>,
        members: Vec<Actor>,
    },
    ChatDissolved {
        by: Option<Actor>,
    },
}

impl ChangeBody {
    /// The change's stable name, as stores keep it beside the body.
    pub fn kind(&self) -> &'static str {
        match self {
            ChangeBody::MessageCreated { .. } => MessageChange::Created.kind(),
            ChangeBody::MessageEdited { .. } => MessageChange::Edited.kind(),
            ChangeBody::MessageRemoved { .. } => MessageChange::Removed.kind(),
            ChangeBody::MembersAdded { .. } => "members_added",
            ChangeBody::MembersRemoved { .. } => "members_removed",
            ChangeBody::ChatDissolved { .. } => "chat_dissolved",
        }
    }

    /// The message the change is about, if any.
    pub fn message(&self) -> Option<&Message> {
        match self {
            ChangeBody::MessageCreated { message }
            | ChangeBody::MessageEdited { message }
            | ChangeBody::MessageRemoved { message } => Some(message),
            _ => None,
        }
    }

    /// Every party the change names (the message's sender, mentioned parties and
    /// remover; the members and who changed them), each once, users first.
    pub fn actors(&self) -> Vec<Actor> {
        let mut out = Vec::new();
        if let Some(m) = self.message() {
            out.push(m.sender);
            out.extend(m.mentions.iter().filter_map(|x| match x.target {
                MentionTarget::User(u) => Some(Actor::User(u)),
                MentionTarget::App(a) => Some(Actor::App(a)),
                MentionTarget::All => None,
            }));
            out.extend(m.removal.iter().map(|r| r.by));
        }
        match self {
            ChangeBody::MembersAdded { by, members }
            | ChangeBody::MembersRemoved { by, members } => {
                out.extend(by.iter().copied());
                out.extend(members.iter().copied());
            }
            ChangeBody::ChatDissolved { by } => out.extend(by.iter().copied()),
            _ => {}
        }
        out.sort_by_key(|a| match a {
            Actor::User(u) => (0, u.0),
            Actor::App(a) => (1, a.0),
        });
        out.dedup();
        out
    }

    /// Encodes the body as the stores keep it: a change about a message as
    /// [`MessageChange::wrap`] writes it, any other as JSON.
    pub fn encode(&self) -> Vec<u8> {
        let (change, message) = match self {
            ChangeBody::MessageCreated { message } => (MessageChange::Created, message),
            ChangeBody::MessageEdited { message } => (MessageChange::Edited, message),
            ChangeBody::MessageRemoved { message } => (MessageChange::Removed, message),
            _ => return serde_json::to_vec(self).expect("a change body always serialises"),
        };
        change.wrap(&form::encode_message(message))
    }

    /// Reads a body in any form a store has written (JSON bodies hold a message in the
    /// message document's JSON form).
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let fail = |e: String| format!("undecodable change: {e}");
        match bytes {
            [MESSAGE_CHANGE, code, doc @ ..] => {
                let message = form::decode_message(doc).map_err(fail)?;
                Ok(
                    match MessageChange::from_code(*code)
                        .ok_or_else(|| fail(format!("kind {code}")))?
                    {
                        MessageChange::Created => ChangeBody::MessageCreated { message },
                        MessageChange::Edited => ChangeBody::MessageEdited { message },
                        MessageChange::Removed => ChangeBody::MessageRemoved { message },
                    },
                )
            }
            _ => serde_json::from_slice(bytes).map_err(|e| fail(e.to_string())),
        }
    }
}

/// The first byte of a change body about a message (a JSON body's is `{`).
const MESSAGE_CHANGE: u8 = 1;

/// What a change about a message is, as a store that writes the message names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageChange {
    Created,
    Edited,
    Removed,
}

impl MessageChange {
    /// The name stores keep beside the body ([`ChangeBody::kind`]).
    pub fn kind(self) -> &'static str {
        match self {
            MessageChange::Created => "message_created",
            MessageChange::Edited => "message_edited",
            MessageChange::Removed => "message_removed",
        }
    }

    /// Its byte in a change body.
    pub fn code(self) -> u8 {
        match self {
            MessageChange::Created => 1,
            MessageChange::Edited => 2,
            MessageChange::Removed => 3,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        [Self::Created, Self::Edited, Self::Removed]
            .into_iter()
            .find(|c| c.code() == code)
    }

    /// The change body about a message whose stored form ([`form::encode_message`]) the
    /// write has just stored as `doc`: built around it, not by encoding the message again.
    pub fn wrap(self, doc: &[u8]) -> Vec<u8> {
        let mut body = Vec::with_capacity(doc.len() + 2);
        body.push(MESSAGE_CHANGE);
        body.push(self.code());
        body.extend_from_slice(doc);
        body
    }
}

/// A change as a store records it, before the store assigns its sequence number.
#[derive(Debug, Clone, PartialEq)]
pub struct NewChange {
    pub tenant: TenantId,
    pub chat: ChatId,
    pub at: Millis,
    pub body: ChangeBody,
}

/// A recorded change: the outbox's entry, numbered in commit order per chat.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Store-wide sequence number. Within one chat it follows the order of the writes.
    pub seq: i64,
    pub tenant: TenantId,
    pub chat: ChatId,
    pub at: Millis,
    pub body: ChangeBody,
}

/// How a subscription is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// An HTTP POST to `url` per event.
    Webhook,
    /// A frame on the app's long connection, when one is open.
    LongConnection,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Webhook => "webhook",
            Mode::LongConnection => "long_connection",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "webhook" => Some(Mode::Webhook),
            "long_connection" => Some(Mode::LongConnection),
            _ => None,
        }
    }
}

/// One app's subscription to the events of one dialect (the dialect names the wire the
/// events are rendered in: "feishu", "hi", …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub tenant: TenantId,
    pub app: AppId,
    pub dialect: String,
    pub mode: Mode,
    /// The webhook's URL (empty for a long connection).
    pub url: String,
    /// Encrypts and signs deliveries when not empty.
    pub encrypt_key: String,
    pub verification_token: String,
    /// The dialect's names of the event types the app asked for.
    pub event_types: Vec<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A delivery's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not attempted yet.
    Pending,
    /// Attempted, failed, and due again at `next_attempt_at`.
    Retrying,
    Delivered,
    /// Every attempt of the schedule failed.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Retrying => "retrying",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(DeliveryStatus::Pending),
            "retrying" => Some(DeliveryStatus::Retrying),
            "delivered" => Some(DeliveryStatus::Delivered),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
    /// Still to be attempted.
    pub fn is_open(self) -> bool {
        matches!(self, DeliveryStatus::Pending | DeliveryStatus::Retrying)
    }
}

/// A delivery the router creates: one event for one app's subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    /// 32 lowercase hex digits, the same on every attempt (receivers dedupe by it).
    pub event_id: String,
    pub tenant: TenantId,
    pub app: AppId,
    pub dialect: String,
    pub mode: Mode,
    /// The dialect's name of the event type.
    pub event_type: String,
    pub chat: ChatId,
    pub message: Option<MessageId>,
    /// The change it comes from (its body is copied: the change is gone once routed).
    pub seq: i64,
    pub body: ChangeBody,
    pub created_at: Millis,
}

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Store-assigned, increasing in routing order.
    pub id: i64,
    pub event_id: String,
    pub tenant: TenantId,
    pub app: AppId,
    pub dialect: String,
    pub mode: Mode,
    pub event_type: String,
    pub chat: ChatId,
    pub message: Option<MessageId>,
    pub seq: i64,
    pub body: ChangeBody,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    pub next_attempt_at: Option<Millis>,
    pub created_at: Millis,
}

/// Why an attempt failed, in words an operator can filter on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// No answer within the deadline.
    Timeout,
    /// The connection could not be made or broke.
    Connect,
    /// An answer other than 2xx (its status is in the attempt).
    Status,
    /// A redirect, which is never followed.
    Redirect,
    /// A long connection's ack said the handler failed.
    Nack,
    /// No long connection is open for the app.
    NoConnection,
    /// The event could not be rendered (its app or subscription is gone).
    Render,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Timeout => "timeout",
            ErrorClass::Connect => "connect",
            ErrorClass::Status => "status",
            ErrorClass::Redirect => "redirect",
            ErrorClass::Nack => "nack",
            ErrorClass::NoConnection => "no_connection",
            ErrorClass::Render => "render",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "timeout" => ErrorClass::Timeout,
            "connect" => ErrorClass::Connect,
            "status" => ErrorClass::Status,
            "redirect" => ErrorClass::Redirect,
            "nack" => ErrorClass::Nack,
            "no_connection" => ErrorClass::NoConnection,
            "render" => ErrorClass::Render,
            _ => return None,
        })
    }
}

/// One attempt, as the delivery log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub at: Millis,
    /// The HTTP status, or a long connection's ack code; `None` when nothing came back.
    pub status: Option<i32>,
    pub latency_ms: i64,
    pub error: Option<ErrorClass>,
    /// What went over the wire (the request as sent and the answer), as the deliverer
    /// records it for operators: opaque JSON text to the domain. `None` when nothing was
    /// sent (the event could not be rendered) or the attempt predates its recording.
    pub wire: Option<String>,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Delivered,
    RetryAt(Millis),
    Failed,
}

/// A delivery with its attempts, as the deliveries API lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub delivery: Delivery,
    /// Oldest first.
    pub attempts: Vec<Attempt>,
}

/// A page of an app's deliveries, newest first.
#[derive(Debug, Clone)]
pub struct DeliveryQuery {
    pub tenant: TenantId,
    pub app: AppId,
    pub status: Option<DeliveryStatus>,
    pub event_type: Option<String>,
    /// Only deliveries with an id below this (the previous page's last id).
    pub before: Option<i64>,
    pub limit: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bodies about a message wrap its stored form; the JSON bodies an older version wrote
    /// (still in the outbox and the delivery log after an upgrade) read as they did.
    #[test]
    fn bodies_in_either_form_decode_to_the_same_change() {
        let m = crate::model::sample_message();
        let doc = form::encode_message(&m);
        for change in [
            MessageChange::Created,
            MessageChange::Edited,
            MessageChange::Removed,
        ] {
            let bytes = change.wrap(&doc);
            let body = ChangeBody::decode(&bytes).unwrap();
            assert_eq!((body.kind(), body.message()), (change.kind(), Some(&m)));
            assert_eq!(body.encode(), bytes);
            let legacy = serde_json::to_vec(&body).unwrap();
            assert_eq!(legacy[0], b'{');
            assert_eq!(ChangeBody::decode(&legacy).unwrap(), body);
        }
        let other = ChangeBody::ChatDissolved { by: None };
        assert_eq!(other.encode()[0], b'{');
        assert_eq!(ChangeBody::decode(&other.encode()).unwrap(), other);
        assert!(ChangeBody::decode(&[1, 9, 1]).is_err());
        assert!(ChangeBody::decode(&[1]).is_err());
    }
}
