//! The domain error catalogue. Every dialect maps each variant exactly once, in its own
//! error table; `code()` gives the stable catalogue name used by the admin API and logs.

use crate::model::RemovalKind;
use crate::store::StoreError;

/// What was not found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Tenant,
    User,
    App,
    Chat,
    Message,
    Member,
    /// An app's event subscription for one dialect.
    Subscription,
    /// An event delivery, by its event id.
    Delivery,
}

impl Entity {
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Tenant => "tenant",
            Entity::User => "user",
            Entity::App => "app",
            Entity::Chat => "chat",
            Entity::Message => "message",
            Entity::Member => "member",
            Entity::Subscription => "subscription",
            Entity::Delivery => "delivery",
        }
    }
}

/// Why an otherwise valid request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The actor is not a member of the (group) chat.
    NotMember,
    /// The actor is not one of a p2p chat's two participants (some APIs answer this apart
    /// from a group's non-member).
    NotInP2p,
    /// Only the sender may do this.
    NotSender,
    /// Only the chat's owner or an admin may do this.
    NotChatAdmin,
}

impl Denied {
    /// The refusal of a non-member of a chat of `kind`.
    pub fn not_member(kind: crate::model::ChatKind) -> Denied {
        match kind {
            crate::model::ChatKind::P2p => Denied::NotInP2p,
            _ => Denied::NotMember,
        }
    }
}

/// A state conflict: the request is well formed but the resource's state forbids it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// A unique name is taken (user_id, account_id, p2p pair ...).
    Duplicate(&'static str),
    ChatDissolved,
    /// The message was recalled or deleted (so it cannot be edited, replied to or
    /// forwarded); the kind lets a dialect tell a deleted message from a recalled one.
    MessageRemoved(RemovalKind),
    /// A recall or delete of a message that was already recalled or deleted.
    AlreadyRemoved(RemovalKind),
    /// The message has been edited the maximum number of times.
    EditLimit,
    /// The window of the named operation has passed.
    WindowPassed(Window),
    /// The operation does not apply to this message's type.
    WrongMessageType,
    /// Repeated too soon (e.g. a second edit of one message within the minimum interval).
    TooFrequent,
    /// The chat's owner cannot be removed from it.
    OwnerStays,
}

/// Which time window a [`Conflict::WindowPassed`] concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Recalling (or deleting) a message: `Recall`'s `window_ms` or `admin_window_ms`.
    Recall,
    /// Editing a message: `Edit`'s `window_ms`.
    Edit,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("{} not found", .0.as_str())]
    NotFound(Entity),
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("forbidden: {0:?}")]
    Forbidden(Denied),
    #[error("conflict: {0:?}")]
    Conflict(Conflict),
    #[error("storage unavailable")]
    Unavailable(#[source] StoreError),
    #[error("internal error")]
    Internal(#[source] StoreError),
}

impl Error {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// Stable catalogue name.
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotFound(Entity::Tenant) => "tenant_not_found",
            Error::NotFound(Entity::User) => "user_not_found",
            Error::NotFound(Entity::App) => "app_not_found",
            Error::NotFound(Entity::Chat) => "chat_not_found",
            Error::NotFound(Entity::Message) => "message_not_found",
            Error::NotFound(Entity::Member) => "member_not_found",
            Error::NotFound(Entity::Subscription) => "subscription_not_found",
            Error::NotFound(Entity::Delivery) => "delivery_not_found",
            Error::Invalid { .. } => "invalid_argument",
            Error::Forbidden(Denied::NotMember | Denied::NotInP2p) => "not_a_member",
            Error::Forbidden(Denied::NotSender) => "not_the_sender",
            Error::Forbidden(Denied::NotChatAdmin) => "not_chat_admin",
            Error::Conflict(Conflict::Duplicate(_)) => "already_exists",
            Error::Conflict(Conflict::ChatDissolved) => "chat_dissolved",
            Error::Conflict(Conflict::MessageRemoved(_) | Conflict::AlreadyRemoved(_)) => {
                "message_removed"
            }
            Error::Conflict(Conflict::EditLimit) => "edit_limit_reached",
            Error::Conflict(Conflict::WindowPassed(_)) => "window_passed",
            Error::Conflict(Conflict::WrongMessageType) => "wrong_message_type",
            Error::Conflict(Conflict::TooFrequent) => "too_frequent",
            Error::Conflict(Conflict::OwnerStays) => "owner_cannot_be_removed",
            Error::Unavailable(_) => "unavailable",
            Error::Internal(_) => "internal",
        }
    }

    /// One representative of every variant, so that dialects can prove their error tables
    /// are complete.
    pub fn catalogue() -> Vec<Error> {
        vec![
            Error::NotFound(Entity::Tenant),
            Error::NotFound(Entity::User),
            Error::NotFound(Entity::App),
            Error::NotFound(Entity::Chat),
            Error::NotFound(Entity::Message),
            Error::NotFound(Entity::Member),
            Error::NotFound(Entity::Subscription),
            Error::NotFound(Entity::Delivery),
            Error::invalid("field", "reason"),
            Error::Forbidden(Denied::NotMember),
            Error::Forbidden(Denied::NotInP2p),
            Error::Forbidden(Denied::NotSender),
            Error::Forbidden(Denied::NotChatAdmin),
            Error::Conflict(Conflict::Duplicate("user_id")),
            Error::Conflict(Conflict::ChatDissolved),
            Error::Conflict(Conflict::MessageRemoved(RemovalKind::Recalled)),
            Error::Conflict(Conflict::MessageRemoved(RemovalKind::Deleted)),
            Error::Conflict(Conflict::AlreadyRemoved(RemovalKind::Recalled)),
            Error::Conflict(Conflict::AlreadyRemoved(RemovalKind::Deleted)),
            Error::Conflict(Conflict::EditLimit),
            Error::Conflict(Conflict::WindowPassed(Window::Recall)),
            Error::Conflict(Conflict::WindowPassed(Window::Edit)),
            Error::Conflict(Conflict::WrongMessageType),
            Error::Conflict(Conflict::TooFrequent),
            Error::Conflict(Conflict::OwnerStays),
            Error::Unavailable(StoreError::Unavailable("down".into())),
            Error::Internal(StoreError::Internal("bug".into())),
        ]
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Error::NotFound(what),
            StoreError::Duplicate(what) => Error::Conflict(Conflict::Duplicate(what)),
            StoreError::Conflict(c) => Error::Conflict(c),
            StoreError::Invalid(reason) => Error::Invalid {
                field: "input",
                reason,
            },
            e @ StoreError::Unavailable(_) => Error::Unavailable(e),
            e @ StoreError::Internal(_) => Error::Internal(e),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
