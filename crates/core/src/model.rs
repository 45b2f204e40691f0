//! The domain model: tenants, users, apps, chats and messages.
//!
//! Fields that one API needs and the others do not still live here (a custom message's
//! sub-type, a client's dedupe key): the domain holds the union, each dialect renders its
//! part. Which vendor field maps to which domain field is in `docs/dialects/`.

use crate::ids::{AppId, ChatId, MessageId, TenantId, UserId};
use crate::json::Json;
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub tenant: TenantId,
    /// Tenant-wide external id. Immutable.
    pub user_id: String,
    /// Account id: a second external id of at most 32 characters. Immutable.
    pub account_id: String,
    pub name: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    pub id: AppId,
    pub tenant: TenantId,
    /// Public credential id, accepted by every dialect under its own name.
    pub app_id: String,
    /// The shared secret. Kept in clear because request signatures and checksums are keyed
    /// with it.
    pub app_secret: Secret,
    pub name: String,
    pub bot_enabled: bool,
    /// Whether this app's requests must be signed, on the APIs that sign requests.
    pub signing_required: bool,
    pub scopes: Vec<String>,
    pub created_at: Millis,
}

impl App {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// A secret string: never printed by `Debug`, compared in constant time.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself; call only where it is used as key material or shown once to its owner.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Constant-time comparison.
    pub fn matches(&self, candidate: &str) -> bool {
        crate::auth::ct_eq(self.0.as_bytes(), candidate.as_bytes())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Who acts: a user or an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Actor {
    User(UserId),
    App(AppId),
}

impl Actor {
    pub fn kind(self) -> &'static str {
        match self {
            Actor::User(_) => "user",
            Actor::App(_) => "app",
        }
    }
    pub fn raw_id(self) -> i64 {
        match self {
            Actor::User(u) => u.0,
            Actor::App(a) => a.0,
        }
    }
    pub fn from_parts(kind: &str, id: i64) -> Option<Self> {
        match kind {
            "user" => Some(Actor::User(UserId(id))),
            "app" => Some(Actor::App(AppId(id))),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatKind {
    P2p,
    Group,
    SuperGroup,
}

impl ChatKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatKind::P2p => "p2p",
            ChatKind::Group => "group",
            ChatKind::SuperGroup => "super_group",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "p2p" => Some(ChatKind::P2p),
            "group" => Some(ChatKind::Group),
            "super_group" => Some(ChatKind::SuperGroup),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chat {
    pub id: ChatId,
    pub tenant: TenantId,
    pub kind: ChatKind,
    pub name: String,
    /// Free text shown with the chat (Feishu's `description`); empty when unset.
    pub description: String,
    pub owner: Actor,
    pub created_at: Millis,
    pub dissolved_at: Option<Millis>,
    /// Position of the newest timeline message (0 when empty).
    pub last_position: i64,
}

impl Chat {
    /// Stands in for a chat that is gone when only its id and kind are read: a group with
    /// no name (an event about a chat dissolved and removed since).
    pub fn gone(tenant: TenantId, id: ChatId) -> Chat {
        Chat {
            id,
            tenant,
            kind: ChatKind::Group,
            name: String::new(),
            description: String::new(),
            owner: Actor::App(AppId(0)),
            created_at: 0,
            dissolved_at: None,
            last_position: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub chat: ChatId,
    pub actor: Actor,
    pub role: Role,
    pub joined_at: Millis,
}

/// The union of every dialect's message types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageType {
    Text,
    /// Formatted text with inline elements.
    RichText,
    Image,
    File,
    Audio,
    Video,
    /// An interactive card.
    Card,
    Sticker,
    Location,
    MergeForward,
    ShareChat,
    ShareUser,
    Vote,
    Calendar,
    Meeting,
    /// A notification about the chat itself.
    Notification,
    /// A tip shown in the timeline.
    Tip,
    /// A robot's message.
    Robot,
    /// An application-defined message (with `MessageExtra::sub_type`).
    Custom,
    /// A system message.
    System,
}

impl MessageType {
    pub const ALL: [MessageType; 20] = [
        MessageType::Text,
        MessageType::RichText,
        MessageType::Image,
        MessageType::File,
        MessageType::Audio,
        MessageType::Video,
        MessageType::Card,
        MessageType::Sticker,
        MessageType::Location,
        MessageType::MergeForward,
        MessageType::ShareChat,
        MessageType::ShareUser,
        MessageType::Vote,
        MessageType::Calendar,
        MessageType::Meeting,
        MessageType::Notification,
        MessageType::Tip,
        MessageType::Robot,
        MessageType::Custom,
        MessageType::System,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Text => "text",
            MessageType::RichText => "rich_text",
            MessageType::Image => "image",
            MessageType::File => "file",
            MessageType::Audio => "audio",
            MessageType::Video => "video",
            MessageType::Card => "card",
            MessageType::Sticker => "sticker",
            MessageType::Location => "location",
            MessageType::MergeForward => "merge_forward",
            MessageType::ShareChat => "share_chat",
            MessageType::ShareUser => "share_user",
            MessageType::Vote => "vote",
            MessageType::Calendar => "calendar",
            MessageType::Meeting => "meeting",
            MessageType::Notification => "notification",
            MessageType::Tip => "tip",
            MessageType::Robot => "robot",
            MessageType::Custom => "custom",
            MessageType::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Message content in canonical form.
///
/// `text` is the plain-text rendition every dialect can show (for text messages it is the
/// message; mentions appear as `<at id="KEY">name</at>`, KEY being the mention's `key`).
/// `data` is the type's structured payload in canonical form (see `docs/content.md`).
/// `original` keeps the content exactly as the sending dialect received it, so that the
/// same dialect echoes it back losslessly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Content {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(default, skip_serializing_if = "Json::is_null")]
    pub data: Json,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<OriginalContent>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OriginalContent {
    /// Which API received it: an opaque tag to the domain, chosen by that API.
    pub format: String,
    pub value: Json,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum MentionTarget {
    All,
    User(UserId),
    App(AppId),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mention {
    /// The index key that links the mention to its marker in the text.
    pub key: String,
    pub target: MentionTarget,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovalKind {
    /// Recalled for everyone.
    Recalled,
    /// Recalled for receivers only; the sender still sees it.
    RecalledOneWay,
    /// Deleted; gone for every reader.
    Deleted,
}

impl RemovalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RemovalKind::Recalled => "recalled",
            RemovalKind::RecalledOneWay => "recalled_one_way",
            RemovalKind::Deleted => "deleted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    pub kind: RemovalKind,
    pub by: Actor,
    pub at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditInfo {
    pub by: Actor,
    pub at: Millis,
    pub count: u32,
}

/// Fields one API needs that the others ignore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MessageExtra {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_type: Option<i64>,
}

/// A stored message. Its serde form is the stores' document: empty and absent fields are
/// left out (a smaller document is faster to write, read and decode), and documents written
/// with them as `null`, `[]` or `{}` read the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub tenant: TenantId,
    pub chat: ChatId,
    pub sender: Actor,
    pub kind: MessageType,
    pub content: Content,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<Mention>,
    pub created_at: Millis,
    pub updated_at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit: Option<EditInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removal: Option<Removal>,
    /// The message this one replies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<MessageId>,
    /// The root of the reply tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<MessageId>,
    /// Set when the reply was posted into a thread: the thread's root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<MessageId>,
    /// For a merge-forward child copy: its container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<MessageId>,
    /// For a merge-forward child copy: the message it copies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copied_from: Option<MessageId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    #[serde(default, skip_serializing_if = "MessageExtra::is_empty")]
    pub extra: MessageExtra,
}

impl MessageExtra {
    pub fn is_empty(&self) -> bool {
        self.sub_type.is_none() && self.extension.is_none() && self.client_type.is_none()
    }
}

impl Message {
    pub fn position(&self) -> Option<i64> {
        self.id.position()
    }
    pub fn is_removed(&self) -> bool {
        self.removal.is_some()
    }
}

/// A plain text message, for unit tests across the crate.
#[cfg(test)]
pub(crate) fn sample_message() -> Message {
    Message {
        id: MessageId(4_294_967_297),
        tenant: TenantId(1),
        chat: ChatId(1),
        sender: Actor::User(UserId(7)),
        kind: MessageType::Text,
        content: Content {
            text: "hi".into(),
            data: serde_json::json!({ "text": "hi" }).into(),
            original: None,
        },
        mentions: vec![],
        created_at: 1,
        updated_at: 1,
        edit: None,
        removal: None,
        parent: None,
        root: None,
        thread: None,
        upper: None,
        copied_from: None,
        client_msg_id: None,
        extra: MessageExtra::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_documents_leave_out_empty_fields_and_read_both_forms() {
        let m = sample_message();
        let doc = serde_json::to_string(&m).unwrap();
        assert_eq!(
            doc,
            r#"{"id":4294967297,"tenant":1,"chat":1,"sender":{"type":"user","id":7},"kind":"text","content":{"text":"hi","data":{"text":"hi"}},"created_at":1,"updated_at":1}"#
        );
        assert_eq!(serde_json::from_str::<Message>(&doc).unwrap(), m);
        // The form written before empty fields were left out.
        let old = r#"{"id":4294967297,"tenant":1,"chat":1,"sender":{"type":"user","id":7},"kind":"text","content":{"text":"hi","data":{"text":"hi"}},"mentions":[],"created_at":1,"updated_at":1,"edit":null,"removal":null,"parent":null,"root":null,"thread":null,"upper":null,"copied_from":null,"client_msg_id":null,"extra":{}}"#;
        assert_eq!(serde_json::from_str::<Message>(old).unwrap(), m);
        let mut full = m.clone();
        full.parent = Some(MessageId(4_294_967_296 + 5));
        full.client_msg_id = Some("c1".into());
        full.extra.sub_type = Some(3);
        full.removal = Some(Removal {
            kind: RemovalKind::Recalled,
            by: Actor::App(AppId(2)),
            at: 9,
        });
        let doc = serde_json::to_string(&full).unwrap();
        assert_eq!(serde_json::from_str::<Message>(&doc).unwrap(), full);
    }
}
